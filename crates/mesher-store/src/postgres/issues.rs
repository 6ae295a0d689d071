//! Issues on PostgreSQL: reads, state changes, assignment, deletion, activity, the periodic sweep.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{GenericClient, Row};

use super::events::{insert_activity, issue_hours};
use super::{PostgresStore, map_err};
use crate::event_model::{Issue, IssueActivity, StatusChange};
use crate::lifecycle::{
    escalation, escalation_data, escalation_window_start, needs_project_release, transition,
};
use crate::time_util::{from_millis, now};
use crate::traits::IssueStore;
use crate::{StoreError, StoreResult};

pub(super) const ISSUE_COLS: &str = "id, project_id, fingerprint, title, culprit, level, status, substatus, \
     first_seen, last_seen, event_count, last_release, last_environment, user_count, resolved_at, \
     resolved_in_release, assignee_id, grouping";

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
    })
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
    ) -> StoreResult<Issue> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let current = load(&*tx, id, true).await?;
        let at = now();
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
        if let Some(t) = transition(
            current.status,
            current.resolved_in_release.is_some(),
            anchor.as_deref(),
            change,
            at,
        )? {
            tx.execute(
                "UPDATE issues SET status = $2, substatus = $3, resolved_at = $4, resolved_in_release = $5 \
                 WHERE id = $1",
                &[&id, &t.status.as_str(), &t.substatus, &t.resolved_at, &t.resolved_in_release],
            )
            .await
            .map_err(map_err)?;
            insert_activity(&*tx, &[(id, t.kind, actor, t.data, at)]).await?;
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
                "SELECT project_id, (SELECT count(*) FROM events WHERE issue_id = $1) FROM issues WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("issue"))?;
        let (project, events): (i64, i64) = (row.get(0), row.get(1));
        // Events, rollups and activity go with it (ON DELETE CASCADE).
        tx.execute("DELETE FROM issues WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?;
        tx.execute(
            "UPDATE projects SET event_count = event_count - $2, issue_count = issue_count - 1 WHERE id = $1",
            &[&project, &events],
        )
        .await
        .map_err(map_err)?;
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
        tx.execute(
            "UPDATE issues SET substatus = 'ongoing' WHERE status = 'unresolved' AND substatus = 'new' \
             AND first_seen < $1",
            &[&(at - time::Duration::days(7))],
        )
        .await
        .map_err(map_err)?;
        // SKIP LOCKED: when several nodes sweep at once, each issue is checked by one of them.
        let candidates: Vec<i64> = tx
            .query(
                "SELECT id FROM issues WHERE status = 'archived' AND last_seen >= $1 FOR UPDATE SKIP LOCKED",
                &[&(at - time::Duration::hours(2))],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let hours =
            issue_hours(&*tx, &candidates, from_millis(escalation_window_start(at))).await?;
        let mut escalated = Vec::new();
        let mut activity = Vec::new();
        for id in candidates {
            let Some(h) = hours.get(&id) else { continue };
            if let Some((last_hour, average)) = escalation(h, at) {
                escalated.push(id);
                activity.push((
                    id,
                    "escalation",
                    None,
                    escalation_data(last_hour, average),
                    at,
                ));
            }
        }
        if !escalated.is_empty() {
            tx.execute(
                "UPDATE issues SET status = 'unresolved', substatus = 'escalating' WHERE id = ANY($1)",
                &[&escalated],
            )
            .await
            .map_err(map_err)?;
            insert_activity(&*tx, &activity).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(escalated)
    }
}
