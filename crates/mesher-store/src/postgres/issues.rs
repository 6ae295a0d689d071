//! Issues on PostgreSQL: reads, state changes, assignment, deletion, activity, the periodic sweep.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{GenericClient, Row};

use super::events::{insert_activity, issue_hours};
use super::{PostgresStore, map_err};
use crate::archive::{self, Counts};
use crate::event_model::{Archive, ArchiveUntil, Issue, IssueActivity, IssueStatus, StatusChange};
use crate::lifecycle::{needs_project_release, refuse_if_discarded, transition};
use crate::time_util::{from_millis, now};
use crate::traits::IssueStore;
use crate::{StoreError, StoreResult};

pub(super) const ISSUE_COLS: &str = "id, project_id, fingerprint, title, culprit, level, status, substatus, \
     first_seen, last_seen, event_count, last_release, last_environment, user_count, resolved_at, \
     resolved_in_release, assignee_id, grouping, archive";

pub(super) fn issue_row(r: &Row) -> StoreResult<Issue> {
    Ok(Issue {
        id: r.get(0),
        project_id: r.get(1),
        fingerprint: r.get(2),
        title: r.get(3),
        culprit: r.get(4),
        level: r.get(5),
        status: r.get::<_, String>(6).parse()?,
        substatus: r.get(7),
        first_seen: r.get(8),
        last_seen: r.get(9),
        event_count: r.get(10),
        last_release: r.get(11),
        last_environment: r.get(12),
        user_count: r.get(13),
        resolved_at: r.get(14),
        resolved_in_release: r.get(15),
        assignee_id: r.get(16),
        grouping: r
            .get::<_, Option<String>>(17)
            .and_then(|g| serde_json::from_str(&g).ok()),
        period_count: None,
        archive: r
            .get::<_, Option<String>>(18)
            .and_then(|a| serde_json::from_str(&a).ok()),
    })
}

/// An archive as stored.
pub(super) fn archive_text(archive: Option<&Archive>) -> Option<String> {
    archive.and_then(|a| serde_json::to_string(a).ok())
}

async fn load(c: &impl GenericClient, id: i64, lock: bool) -> StoreResult<Issue> {
    let sql = format!(
        "SELECT {ISSUE_COLS} FROM issues WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = c.query_opt(&sql, &[&id]).await.map_err(map_err)?;
    row.as_ref()
        .map(issue_row)
        .transpose()?
        .ok_or(StoreError::NotFound("issue"))
}

/// Deletes an issue's events and what derives from them (hourly counts, tag values), keeping
/// the project's event counter right.
async fn purge_events(
    tx: &tokio_postgres::Transaction<'_>,
    id: i64,
    project: i64,
) -> StoreResult<()> {
    // The project's tag values lose the events' own (the rollup has no issue to delete by);
    // the values left at zero go.
    const ISSUE_TAG_HOURS: &str = "SELECT t.key, \
           date_trunc('hour', e.timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, \
           t.value #>> '{}' AS value, count(*) AS n \
         FROM events e, jsonb_each(e.tags) t \
         WHERE e.issue_id = $1 AND jsonb_typeof(t.value) = 'string' GROUP BY 1, 2, 3";
    tx.execute(
        &format!(
            "UPDATE project_tag_hourly p SET count = p.count - d.n FROM ({ISSUE_TAG_HOURS}) d \
             WHERE p.project_id = $2 AND p.key = d.key AND p.hour = d.hour AND p.value = d.value"
        ),
        &[&id, &project],
    )
    .await
    .map_err(map_err)?;
    tx.execute(
        &format!(
            "DELETE FROM project_tag_hourly p USING ({ISSUE_TAG_HOURS}) d \
             WHERE p.count <= 0 AND p.project_id = $2 AND p.key = d.key AND p.hour = d.hour \
             AND p.value = d.value"
        ),
        &[&id, &project],
    )
    .await
    .map_err(map_err)?;
    let gone = tx
        .query_one(
            "WITH gone AS (DELETE FROM events WHERE issue_id = $1 RETURNING bytes) \
             SELECT count(*), coalesce(sum(bytes), 0)::bigint FROM gone",
            &[&id],
        )
        .await
        .map_err(map_err)?;
    let (events, bytes): (i64, i64) = (gone.get(0), gone.get(1));
    for table in ["issue_hourly", "issue_tags"] {
        tx.execute(&format!("DELETE FROM {table} WHERE issue_id = $1"), &[&id])
            .await
            .map_err(map_err)?;
    }
    tx.execute(
        "UPDATE projects SET event_count = event_count - $2, storage_bytes = storage_bytes - $3 \
         WHERE id = $1",
        &[&project, &events, &bytes],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl IssueStore for PostgresStore {
    async fn issue(&self, id: i64) -> StoreResult<Option<Issue>> {
        let conn = self.conn().await?;
        match load(&**conn, id, false).await {
            Ok(i) => Ok(Some(i)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_issues(&self, project_id: i64) -> StoreResult<Vec<Issue>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {ISSUE_COLS} FROM issues WHERE project_id = $1 ORDER BY last_seen DESC, id DESC"
                ),
                &[&project_id],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(issue_row).collect()
    }

    async fn set_issue_status(
        &self,
        id: i64,
        change: StatusChange,
        actor: Option<i64>,
        at: OffsetDateTime,
    ) -> StoreResult<Issue> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let current = load(&*tx, id, true).await?;
        refuse_if_discarded(&current, change)?;
        let archive = match change {
            StatusChange::Archive(until) => {
                let from = from_millis(archive::window_start(at));
                let hours = issue_hours(&*tx, &[id], from).await?;
                Some(archive::start(
                    until,
                    at,
                    hours.get(&id).unwrap_or(&BTreeMap::new()),
                    current.first_seen,
                    current.event_count,
                    current.user_count,
                ))
            }
            _ => None,
        };
        let anchor = if needs_project_release(change, current.last_release.as_deref()) {
            // The project's latest release: the one first seen last, as Sentry picks the
            // project's most recent release (issue 12, row 13).
            tx.query_opt(
                "SELECT version FROM releases WHERE project_id = $1 \
                 ORDER BY first_seen DESC, version DESC LIMIT 1",
                &[&current.project_id],
            )
            .await
            .map_err(map_err)?
            .map(|r| r.get(0))
        } else {
            current.last_release.clone()
        };
        if let Some(t) = transition(&current, anchor.as_deref(), change, archive, at)? {
            let expires = t.archive.as_ref().and_then(|a| a.expires_at);
            tx.execute(
                "UPDATE issues SET status = $2, substatus = $3, resolved_at = $4, resolved_in_release = $5, \
                 archive = $6, archive_expires_at = $7, substatus_changed_at = $8 WHERE id = $1",
                &[
                    &id,
                    &t.status.as_str(),
                    &t.substatus,
                    &t.resolved_at,
                    &t.resolved_in_release,
                    &archive_text(t.archive.as_ref()),
                    &expires,
                    &at,
                ],
            )
            .await
            .map_err(map_err)?;
            insert_activity(&*tx, &[(id, t.kind, actor, t.data, at)]).await?;
            if t.status == IssueStatus::Discarded {
                purge_events(&tx, id, current.project_id).await?;
                // A tombstone is no longer an issue of the project.
                tx.execute(
                    "UPDATE projects SET issue_count = issue_count - 1 WHERE id = $1",
                    &[&current.project_id],
                )
                .await
                .map_err(map_err)?;
            }
        }
        let issue = load(&*tx, id, false).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(issue)
    }

    async fn assign_issue(
        &self,
        id: i64,
        assignee: Option<i64>,
        actor: Option<i64>,
    ) -> StoreResult<Issue> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let current = load(&*tx, id, true).await?;
        if let Some(user) = assignee {
            let member: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM memberships m JOIN projects p ON p.org_id = m.org_id \
                     WHERE p.id = $1 AND m.user_id = $2)",
                    &[&current.project_id, &user],
                )
                .await
                .map_err(map_err)?
                .get(0);
            if !member {
                return Err(StoreError::Invalid {
                    field: "assignee",
                    message: "is not a member of the issue's organization".into(),
                });
            }
        }
        if current.assignee_id != assignee {
            tx.execute(
                "UPDATE issues SET assignee_id = $2 WHERE id = $1",
                &[&id, &assignee],
            )
            .await
            .map_err(map_err)?;
            let (kind, data) = match assignee {
                Some(user) => ("assigned", serde_json::json!({"assignee_id": user})),
                None => (
                    "unassigned",
                    serde_json::json!({"previous_assignee_id": current.assignee_id}),
                ),
            };
            insert_activity(&*tx, &[(id, kind, actor, data, now())]).await?;
        }
        let issue = load(&*tx, id, false).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(issue)
    }

    async fn delete_issue(&self, id: i64) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let row = tx
            .query_opt(
                "SELECT project_id, status FROM issues WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("issue"))?;
        let (project, status): (i64, String) = (row.get(0), row.get(1));
        purge_events(&tx, id, project).await?;
        // Rollups and activity go with it (ON DELETE CASCADE).
        tx.execute("DELETE FROM issues WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?;
        // A discarded issue left the project's count when it was discarded.
        if status != IssueStatus::Discarded.as_str() {
            tx.execute(
                "UPDATE projects SET issue_count = issue_count - 1 WHERE id = $1",
                &[&project],
            )
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn list_activity(&self, issue_id: i64) -> StoreResult<Vec<IssueActivity>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT id, issue_id, kind, actor_id, data, created_at FROM issue_activity \
                 WHERE issue_id = $1 ORDER BY id",
                &[&issue_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| IssueActivity {
                id: r.get(0),
                issue_id: r.get(1),
                kind: r.get(2),
                actor_id: r.get(3),
                data: r.get(4),
                created_at: r.get(5),
            })
            .collect())
    }

    async fn sweep_issues(&self, at: OffsetDateTime) -> StoreResult<Vec<i64>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        // Durations first: an archive that ended long ago made the issue escalating then, and
        // the aging below may already move it on to ongoing. SKIP LOCKED: when several nodes
        // sweep at once, each issue is checked by one of them.
        let expired = tx
            .query(
                "SELECT id, archive_expires_at, archive FROM issues \
                 WHERE status = 'archived' AND archive_expires_at <= $1 FOR UPDATE SKIP LOCKED",
                &[&at],
            )
            .await
            .map_err(map_err)?;
        let mut ended: Vec<(i64, OffsetDateTime, serde_json::Value)> = Vec::new();
        for r in &expired {
            let Some(archive) = r
                .get::<_, Option<String>>(2)
                .and_then(|t| serde_json::from_str::<Archive>(&t).ok())
            else {
                continue;
            };
            if let Err(data) = archive::check(&archive, None, Counts::default(), at) {
                ended.push((r.get(0), r.get(1), data));
            }
        }
        let candidates: Vec<(i64, Archive)> = tx
            .query(
                "SELECT id, archive FROM issues WHERE status = 'archived' AND last_seen >= $1 \
                 AND archive_expires_at IS NULL FOR UPDATE SKIP LOCKED",
                &[&(at - time::Duration::hours(2))],
            )
            .await
            .map_err(map_err)?
            .iter()
            .filter_map(|r| {
                let archive = match r.get::<_, Option<String>>(1) {
                    Some(t) => serde_json::from_str::<Archive>(&t).ok()?,
                    None => archive::legacy(),
                };
                (archive.until == ArchiveUntil::Escalating).then(|| (r.get(0), archive))
            })
            .collect();
        let ids: Vec<i64> = candidates.iter().map(|(id, _)| *id).collect();
        let hours = issue_hours(&*tx, &ids, from_millis(archive::window_start(at))).await?;
        for (id, archive) in candidates {
            let Some(h) = hours.get(&id) else { continue };
            if let Err(data) = archive::check(&archive, Some(h), Counts::default(), at) {
                ended.push((id, at, data));
            }
        }
        if !ended.is_empty() {
            let ids: Vec<i64> = ended.iter().map(|e| e.0).collect();
            let since: Vec<OffsetDateTime> = ended.iter().map(|e| e.1).collect();
            tx.execute(
                "UPDATE issues AS i SET status = 'unresolved', substatus = 'escalating', archive = NULL, \
                 archive_expires_at = NULL, substatus_changed_at = u.since \
                 FROM UNNEST($1::bigint[], $2::timestamptz[]) AS u(id, since) WHERE i.id = u.id",
                &[&ids, &since],
            )
            .await
            .map_err(map_err)?;
            let activity: Vec<_> = ended
                .iter()
                .map(|(id, _, data)| (*id, "escalation", None, data.clone(), at))
                .collect();
            insert_activity(&*tx, &activity).await?;
            // The sweep's escalations wait for alert rules as the writer's do; with no event
            // behind them, the issue's own level, environment and release stand in.
            tx.execute(
                "INSERT INTO alert_triggers (project_id, issue_id, kind, event, created_at) \
                 SELECT project_id, id, 'escalation', jsonb_build_object('level', level, \
                   'environment', last_environment, 'release', last_release, 'tags', '{}'::jsonb), $2 \
                 FROM issues WHERE id = ANY($1)",
                &[&ids, &at],
            )
            .await
            .map_err(map_err)?;
        }
        // Sentry's auto-ongoing: new a week after first seen, regressed and escalating a week
        // after they became so (issue 12, row 2), dated when that week ended.
        tx.execute(
            "UPDATE issues SET substatus = 'ongoing', substatus_changed_at = \
               CASE WHEN substatus = 'new' THEN first_seen ELSE substatus_changed_at END + interval '7 days' \
             WHERE status = 'unresolved' AND ( \
               (substatus = 'new' AND first_seen < $1) OR \
               (substatus IN ('regressed', 'escalating') AND substatus_changed_at < $1))",
            &[&(at - time::Duration::days(7))],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(ended.into_iter().map(|(id, _, _)| id).collect())
    }
}
