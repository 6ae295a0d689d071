//! Outcomes on PostgreSQL (issue 17, RETAIN-04): the writer's per batch, the edge's flushed,
//! and the per-issue cap's reads for the writer.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;
// deadpool's trait: it has the connection's statement cache (`prepare_cached`).
use deadpool_postgres::GenericClient;

use super::{PostgresStore, map_err};
use crate::StoreResult;
use crate::batch_plan::{CapCounts, Caps};
use crate::lifecycle::hour_of;
use crate::outcome::{OutcomeCount, outcome_hour};
use crate::time_util::{from_millis, to_millis};
use crate::traits::OutcomeStore;

// Summed: an upsert may not touch one row twice, and a caller may pass one key twice. Counts of a project deleted meanwhile are dropped, not
// refused, so that one deleted project does not fail everyone's flush.
const UPSERT_OUTCOMES: &str = "INSERT INTO project_outcomes (project_id, hour, reason, count) \
     SELECT p, h, r, sum(n) FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[]) \
            AS u(p, h, r, n) \
     WHERE EXISTS (SELECT 1 FROM projects WHERE id = u.p) GROUP BY p, h, r \
     ON CONFLICT (project_id, hour, reason) DO UPDATE SET count = project_outcomes.count + EXCLUDED.count";

/// The caps of `projects` that have one (a member of the write's first pipeline).
pub(super) async fn issue_caps(
    c: &impl GenericClient,
    projects: &[i64],
) -> Result<Caps, tokio_postgres::Error> {
    let stmt = c
        .prepare_cached(
            "SELECT id, max_events_per_issue_per_hour FROM projects \
             WHERE id = ANY($1) AND max_events_per_issue_per_hour IS NOT NULL",
        )
        .await?;
    let rows = c.query(&stmt, &[&projects]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The issues' counts in the hours the caps need ((issue, hour ms) pairs), one statement.
pub(super) async fn cap_counts(
    c: &impl GenericClient,
    pairs: &[(i64, i64)],
) -> StoreResult<CapCounts> {
    if pairs.is_empty() {
        return Ok(CapCounts::new());
    }
    let ids: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    let hours: Vec<OffsetDateTime> = pairs.iter().map(|p| from_millis(p.1)).collect();
    let stmt = c
        .prepare_cached(
            "SELECT h.issue_id, h.hour, h.count FROM issue_hourly h \
             JOIN UNNEST($1::bigint[], $2::timestamptz[]) AS u(i, h) \
               ON h.issue_id = u.i AND h.hour = u.h",
        )
        .await
        .map_err(map_err)?;
    let rows = c.query(&stmt, &[&ids, &hours]).await.map_err(map_err)?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                (r.get(0), to_millis(r.get::<_, OffsetDateTime>(1))),
                r.get(2),
            )
        })
        .collect())
}

/// Adds a batch's outcomes ((project, hour ms, reason) → events) in one statement (a member
/// of the write's last pipeline).
pub(super) async fn write_outcomes(
    c: &impl GenericClient,
    outcomes: &BTreeMap<(i64, i64, &'static str), i64>,
) -> Result<u64, tokio_postgres::Error> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let projects: Vec<i64> = outcomes.keys().map(|k| k.0).collect();
    let hours: Vec<OffsetDateTime> = outcomes.keys().map(|k| from_millis(k.1)).collect();
    let reasons: Vec<&str> = outcomes.keys().map(|k| k.2).collect();
    let counts: Vec<i64> = outcomes.values().copied().collect();
    let stmt = c.prepare_cached(UPSERT_OUTCOMES).await?;
    c.execute(&stmt, &[&projects, &hours, &reasons, &counts])
        .await
}

#[async_trait]
impl OutcomeStore for PostgresStore {
    async fn add_outcomes(&self, counts: &[OutcomeCount]) -> StoreResult<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let projects: Vec<i64> = counts.iter().map(|c| c.project_id).collect();
        let hours: Vec<OffsetDateTime> = counts.iter().map(|c| outcome_hour(c.hour)).collect();
        let reasons: Vec<&str> = counts.iter().map(|c| c.reason.as_str()).collect();
        let ns: Vec<i64> = counts.iter().map(|c| c.count).collect();
        let conn = self.conn().await?;
        conn.execute(UPSERT_OUTCOMES, &[&projects, &hours, &reasons, &ns])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn project_outcomes(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<OutcomeCount>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT hour, reason, count FROM project_outcomes \
                 WHERE project_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour, reason",
                &[&project_id, &from_millis(hour_of(since)), &until],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| OutcomeCount {
                project_id,
                hour: r.get(0),
                reason: r.get(1),
                count: r.get(2),
            })
            .collect())
    }
}
