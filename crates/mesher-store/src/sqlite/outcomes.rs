//! Outcomes on SQLite (issue 17, RETAIN-04): the writer's per batch, the edge's flushed, and
//! the per-issue cap's reads for the writer.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, ToSql, Transaction, params};
use time::OffsetDateTime;

use super::{SqliteStore, map_err, multi_row};
use crate::StoreResult;
use crate::batch_plan::Caps;
use crate::event_model::NewEvent;
use crate::lifecycle::hour_of;
use crate::outcome::OutcomeCount;
use crate::time_util::{from_millis, to_millis};
use crate::traits::OutcomeStore;

const UPSERT_TAIL: &str =
    " ON CONFLICT (project_id, hour, reason) DO UPDATE SET count = count + excluded.count";

/// The caps of the batch's projects that have one: one lookup per distinct project.
pub(super) fn issue_caps(tx: &Transaction<'_>, events: &[NewEvent]) -> StoreResult<Caps> {
    let mut projects: Vec<i64> = events.iter().map(|e| e.project_id).collect();
    projects.sort_unstable();
    projects.dedup();
    let mut stmt = tx
        .prepare_cached("SELECT max_events_per_issue_per_hour FROM projects WHERE id = ?1")
        .map_err(map_err)?;
    let mut caps = Caps::new();
    for project in projects {
        let cap: Option<Option<i64>> = stmt
            .query_row([project], |r| r.get(0))
            .optional()
            .map_err(map_err)?;
        if let Some(Some(cap)) = cap {
            caps.insert(project, cap);
        }
    }
    Ok(caps)
}

/// An issue's count in one hour (ms), if it has one.
pub(super) fn issue_hour_count(
    tx: &Transaction<'_>,
    issue_id: i64,
    hour: i64,
) -> StoreResult<Option<i64>> {
    tx.prepare_cached("SELECT count FROM issue_hourly WHERE issue_id = ?1 AND hour = ?2")
        .map_err(map_err)?
        .query_row(params![issue_id, hour], |r| r.get(0))
        .optional()
        .map_err(map_err)
}

/// Adds a batch's outcomes: (project, hour ms, reason) → events, many rows a statement.
pub(super) fn write_outcomes(
    tx: &Transaction<'_>,
    outcomes: &BTreeMap<(i64, i64, &'static str), i64>,
) -> StoreResult<()> {
    let values: Vec<&dyn ToSql> = outcomes
        .iter()
        .flat_map(|((project, hour, reason), n)| [project as &dyn ToSql, hour, reason, n])
        .collect();
    multi_row::execute(
        tx,
        "INSERT INTO project_outcomes (project_id, hour, reason, count)",
        UPSERT_TAIL,
        4,
        &values,
    )?;
    Ok(())
}

#[async_trait]
impl OutcomeStore for SqliteStore {
    async fn add_outcomes(&self, counts: &[OutcomeCount]) -> StoreResult<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let counts = counts.to_vec();
        self.transact(move |tx| {
            // Counts of a project deleted since they were taken are dropped, not refused: a
            // flush must not fail for every other project's.
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO project_outcomes (project_id, hour, reason, count) \
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?1)\
                     {UPSERT_TAIL}"
                ))
                .map_err(map_err)?;
            for c in &counts {
                stmt.execute(params![c.project_id, hour_of(c.hour), c.reason, c.count])
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn project_outcomes(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<OutcomeCount>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT hour, reason, count FROM project_outcomes \
                     WHERE project_id = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour, reason",
                )
                .map_err(map_err)?;
            let rows: Vec<OutcomeCount> = stmt
                .query_map(params![project_id, hour_of(since), to_millis(until)], |r| {
                    Ok(OutcomeCount {
                        project_id,
                        hour: from_millis(r.get(0)?),
                        reason: r.get(1)?,
                        count: r.get(2)?,
                    })
                })
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }
}
